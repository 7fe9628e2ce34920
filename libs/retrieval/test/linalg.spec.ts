import { type CsrMatrix, SeededRandom, csrTimesDense, denseTimesDense, jacobiEigenSymmetric, orthonormalizeColumns, randomizedSvd, transposeCsr } from '@rescue/retrieval';

function denseToCsr(a: number[][]): CsrMatrix {
  const rowPtr = [0];
  const colIdx: number[] = [];
  const values: number[] = [];
  for (const row of a) {
    row.forEach((v, j) => {
      if (v !== 0) {
        colIdx.push(j);
        values.push(v);
      }
    });
    rowPtr.push(colIdx.length);
  }
  return { rows: a.length, cols: a[0].length, rowPtr: Int32Array.from(rowPtr), colIdx: Int32Array.from(colIdx), values: Float64Array.from(values) };
}

/** A random sparse-ish matrix of exact rank `rank` (sum of `rank` outer products of sparse vectors). */
function lowRank(rows: number, cols: number, rank: number, seed: number): number[][] {
  const rng = new SeededRandom(seed);
  const a = Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
  for (let r = 0; r < rank; r += 1) {
    const u = Array.from({ length: rows }, () => (rng.nextFloat() < 0.5 ? rng.nextGaussian() : 0));
    const v = Array.from({ length: cols }, () => (rng.nextFloat() < 0.5 ? rng.nextGaussian() : 0));
    for (let i = 0; i < rows; i += 1) for (let j = 0; j < cols; j += 1) a[i][j] += u[i] * v[j] * (rank - r);
  }
  return a;
}

/** Singular values of a small dense matrix, from the Jacobi eigenvalues of AᵀA. */
function referenceSingularValues(a: number[][]): number[] {
  const n = a[0].length;
  const g = new Float64Array(n * n);
  for (const row of a) for (let i = 0; i < n; i += 1) for (let j = 0; j < n; j += 1) g[i * n + j] += row[i] * row[j];
  return Array.from(jacobiEigenSymmetric(g, n).values, (v) => Math.sqrt(Math.max(v, 0)));
}

describe('SeededRandom', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const r = new SeededRandom(seed);
      return Array.from({ length: 5 }, () => r.nextUint32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('gives standard normal deviates', () => {
    const r = new SeededRandom(1);
    const xs = Array.from({ length: 20000 }, () => r.nextGaussian());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / xs.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

describe('sparse and dense products', () => {
  it('csrTimesDense and transposeCsr agree with the dense definition', () => {
    const a = lowRank(7, 9, 3, 3);
    const m = denseToCsr(a);
    const d = Float64Array.from({ length: 9 * 6 }, (_, i) => Math.sin(i));
    const got = csrTimesDense(m, d, 6);
    // Into a reused buffer (left dirty by an earlier product): the same values.
    expect(Array.from(csrTimesDense(m, d, 6, new Float64Array(got.length).fill(7)))).toEqual(Array.from(got));
    const want = denseTimesDense(Float64Array.from(a.flat()), d, 7, 9, 6);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    const t = transposeCsr(m);
    for (let i = 0; i < 7; i += 1) {
      for (let j = 0; j < 9; j += 1) {
        const row = Array.from(t.colIdx.subarray(t.rowPtr[j], t.rowPtr[j + 1]));
        const p = row.indexOf(i);
        expect(p >= 0 ? t.values[t.rowPtr[j] + p] : 0).toBe(a[i][j]);
      }
    }
  });
});

describe('orthonormalizeColumns', () => {
  it('returns orthonormal columns spanning the input, and zeroes a dependent column', () => {
    const rows = 50;
    const cols = 6;
    const r = new SeededRandom(5);
    const a = Float64Array.from({ length: rows * cols }, () => r.nextGaussian());
    // Column 4 = column 0 + 2 × column 1: numerically dependent.
    for (let i = 0; i < rows; i += 1) a[i * cols + 4] = a[i * cols] + 2 * a[i * cols + 1];
    const q = orthonormalizeColumns(a, rows, cols);
    for (let x = 0; x < cols; x += 1) {
      for (let y = 0; y < cols; y += 1) {
        let d = 0;
        for (let i = 0; i < rows; i += 1) d += q[i * cols + x] * q[i * cols + y];
        const want = x === y && x !== 4 ? 1 : 0;
        expect(Math.abs(d - want)).toBeLessThan(1e-12);
      }
    }
  });
});

/** Modified Gram–Schmidt one column at a time, written plainly: what the blocked version must match bit for bit. */
function referenceMgs(a: Float64Array, rows: number, cols: number): Float64Array {
  const q = Float64Array.from(a);
  const col = (c: number, r: number): number => c + r * cols;
  for (let c = 0; c < cols; c += 1) {
    let originalNorm = 0;
    for (let r = 0; r < rows; r += 1) originalNorm += q[col(c, r)] * q[col(c, r)];
    originalNorm = Math.sqrt(originalNorm);
    let norm = originalNorm;
    for (let pass = 0; pass < 2 && norm > 0 && c > 0; pass += 1) {
      const before = norm;
      let proj = 0;
      for (let r = 0; r < rows; r += 1) proj += q[col(0, r)] * q[col(c, r)];
      for (let j = 0; j < c; j += 1) {
        let next = 0;
        for (let r = 0; r < rows; r += 1) {
          const v = q[col(c, r)] - proj * q[col(j, r)];
          q[col(c, r)] = v;
          next += j + 1 < c ? q[col(j + 1, r)] * v : v * v;
        }
        proj = next;
      }
      norm = Math.sqrt(proj);
      if (norm > 1e-3 * before) break;
    }
    if (!(norm > 1e-10 * originalNorm)) for (let r = 0; r < rows; r += 1) q[col(c, r)] = 0;
    else for (let r = 0; r < rows; r += 1) q[col(c, r)] *= 1 / norm;
  }
  return q;
}

describe('orthonormalizeColumns, blocked', () => {
  it('gives the bits of one-column MGS: dependent, zero, nearly dependent columns, a partial last block', () => {
    const rows = 40;
    // Blocks of eight after column 0: 1-8 and 9-16 whole, 17-19 a partial last one.
    const cols = 20;
    const r = new SeededRandom(11);
    const a = Float64Array.from({ length: rows * cols }, () => r.nextGaussian());
    for (let i = 0; i < rows; i += 1) {
      a[i * cols + 3] = a[i * cols] - a[i * cols + 1]; // dependent: zeroed
      a[i * cols + 5] = a[i * cols + 2] + 1e-5 * a[i * cols + 5]; // cancels all but 1e-5: a second pass
      a[i * cols + 12] *= Math.pow(0.5, 40); // tiny but independent
      a[i * cols + 18] = 0; // zero from the start
    }
    const got = orthonormalizeColumns(a, rows, cols);
    const want = referenceMgs(a, rows, cols);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    for (let c = 0; c < 2; c += 1) {
      // And narrower blocks: 1 and 2 columns (the last block shorter than four).
      const n = c + 1;
      const sub = Float64Array.from({ length: rows * n }, (_, k) => a[Math.floor(k / n) * cols + (k % n)]);
      expect(Buffer.from(orthonormalizeColumns(sub, rows, n).buffer).equals(Buffer.from(referenceMgs(sub, rows, n).buffer))).toBe(true);
    }
  });
});

describe('jacobiEigenSymmetric', () => {
  it('decomposes a symmetric matrix: A v = λ v, descending, orthonormal vectors', () => {
    const n = 12;
    const r = new SeededRandom(9);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i += 1) {
      for (let j = i; j < n; j += 1) {
        const v = r.nextGaussian();
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    }
    const { values, vectors } = jacobiEigenSymmetric(a, n);
    for (let k = 1; k < n; k += 1) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    for (let k = 0; k < n; k += 1) {
      for (let i = 0; i < n; i += 1) {
        let av = 0;
        for (let j = 0; j < n; j += 1) av += a[i * n + j] * vectors[k * n + j];
        expect(av).toBeCloseTo(values[k] * vectors[k * n + i], 10);
      }
    }
    let trace = 0;
    for (let i = 0; i < n; i += 1) trace += a[i * n + i];
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 10);
  });
});

describe('randomizedSvd', () => {
  it.each([
    ['wide (rows ≤ cols)', 30, 80],
    ['tall (rows > cols)', 80, 30],
  ])('recovers the singular values and right vectors of an exactly low-rank matrix, %s', (_label, rows, cols) => {
    const a = lowRank(rows, cols, 5, 11);
    const m = denseToCsr(a);
    const svd = randomizedSvd(m, 5, { seed: 3, powerIterations: 1 });
    expect(svd.k).toBe(5);
    const want = referenceSingularValues(a).slice(0, 5);
    svd.singularValues.forEach((s, i) => expect(s / want[i]).toBeCloseTo(1, 8));
    // ‖A vᵢ‖ = σᵢ and the vᵢ are orthonormal.
    const av = csrTimesDense(m, svd.v, 5);
    for (let i = 0; i < 5; i += 1) {
      let n2 = 0;
      for (let r = 0; r < rows; r += 1) n2 += av[r * 5 + i] ** 2;
      expect(Math.sqrt(n2) / svd.singularValues[i]).toBeCloseTo(1, 8);
      for (let j = 0; j < 5; j += 1) {
        let d = 0;
        for (let c = 0; c < cols; c += 1) d += svd.v[c * 5 + i] * svd.v[c * 5 + j];
        expect(d).toBeCloseTo(i === j ? 1 : 0, 8);
      }
    }
  });

  it('drops components beyond the numerical rank instead of dividing by ~0', () => {
    const svd = randomizedSvd(denseToCsr(lowRank(20, 40, 3, 2)), 10, { seed: 1 });
    expect(svd.k).toBe(3);
  });

  it('is bit-for-bit deterministic for a seed', () => {
    const m = denseToCsr(lowRank(40, 60, 8, 4));
    const a = randomizedSvd(m, 6, { seed: 42 });
    const b = randomizedSvd(m, 6, { seed: 42 });
    expect(Buffer.from(a.v.buffer).equals(Buffer.from(b.v.buffer))).toBe(true);
  });
});
