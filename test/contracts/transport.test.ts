import { describe } from 'node:test';
import { transportContract } from './transport.contract.ts';

describe('transport contract', () => transportContract());
