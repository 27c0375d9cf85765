import { type Config, ConfigError, loadConfig } from '../server/index.ts';

/**
 * The configuration a command runs with, from its flags, the environment and the config file;
 * a problem is printed as `pushwire COMMAND: …` and gives exit code 2 instead.
 */
export function commandConfig(command: string, argv: string[]): Config | 2 {
  try {
    return loadConfig({ argv, env: process.env, cwd: process.cwd() });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`pushwire ${command}: ${error.message}`);
      return 2;
    }
    throw error;
  }
}
