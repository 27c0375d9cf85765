/**
 * The suggestion for a mistyped name: `candidates` pairs each name a user might have meant to
 * write (an option name, or an old or field-style spelling of it) with what to suggest.
 */
export function closest(
  input: string,
  candidates: readonly (readonly [string, string])[],
): string | undefined {
  const wanted = input.toLowerCase();
  let best: { suggestion: string; distance: number } | undefined;
  for (const [name, suggestion] of candidates) {
    const distance = editDistance(wanted, name.toLowerCase());
    if (
      distance <= Math.max(2, Math.floor(name.length / 3)) &&
      (best === undefined || distance < best.distance)
    ) {
      best = { suggestion, distance };
    }
  }
  return best?.suggestion;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
