/**
 * A tiny deterministic bag-of-words embedder (hashed words, unit length): enough to exercise an
 * index and a KB build without the real one, and the same on every machine. Structurally a
 * BuildEmbedder of @rescue/knowledge (not imported: this library sits below it).
 */
export function bagOfWordsEmbedder(dims = 32): { describe: () => { id: string; dimensions: number }; embed: (texts: string[]) => Promise<Float32Array[]> } {
  const embed = (t: string): Float32Array => {
    const v = new Float32Array(dims);
    for (const w of t.toLowerCase().match(/[a-z_]+/g) ?? []) {
      let h = 0;
      for (const ch of w) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      v[h % dims] += 1;
    }
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  return { describe: () => ({ id: 'test-bow', dimensions: dims }), embed: async (texts) => texts.map(embed) };
}
