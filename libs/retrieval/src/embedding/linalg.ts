/**
 * The small amount of linear algebra the LSA embedder needs, written out so the package needs no
 * numeric dependency: a seeded PRNG, sparse (CSR) × dense products, modified Gram–Schmidt, a
 * cyclic Jacobi eigen-solver and randomized truncated SVD (Halko, Martinsson & Tropp 2011).
 *
 * Determinism: every routine runs a fixed sequence of IEEE-754 double operations (no threads, no
 * order-dependent reductions, no Math.random), so the same input and seed give bit-identical
 * output on the same JavaScript engine. Dense matrices are row-major Float64Arrays.
 */

/**
 * xoshiro128** seeded through splitmix32: small, fast, and of good statistical quality for
 * Gaussian test matrices. Not for cryptography.
 */
export class SeededRandom {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareGaussian: number | undefined;

  /** @param seed any number; only its low 32 bits are used. */
  constructor(seed: number) {
    // splitmix32 spreads a small or patterned seed (0, 1, 2…) over all 128 state bits, so nearby
    // seeds give unrelated streams and the state is never all zeros.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal deviate (Box–Muller; the second deviate of each pair is kept for the next call). */
  nextGaussian(): number {
    if (this.spareGaussian !== undefined) {
      const g = this.spareGaussian;
      this.spareGaussian = undefined;
      return g;
    }
    // 1 - u lies in (0, 1], so the logarithm is finite.
    const r = Math.sqrt(-2 * Math.log(1 - this.nextFloat()));
    const theta = 2 * Math.PI * this.nextFloat();
    this.spareGaussian = r * Math.sin(theta);
    return r * Math.cos(theta);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A sparse matrix in compressed sparse row form. */
export interface CsrMatrix {
  readonly rows: number;
  readonly cols: number;
  /** rows + 1 offsets into colIdx/values; row i is [rowPtr[i], rowPtr[i + 1]). */
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  readonly values: Float64Array;
}

/** The transpose, also in CSR form (equivalently, the CSC form of the input). */
export function transposeCsr(m: CsrMatrix): CsrMatrix {
  const nnz = m.rowPtr[m.rows];
  const rowPtr = new Int32Array(m.cols + 1);
  for (let p = 0; p < nnz; p += 1) rowPtr[m.colIdx[p] + 1] += 1;
  for (let j = 0; j < m.cols; j += 1) rowPtr[j + 1] += rowPtr[j];
  const fill = rowPtr.slice(0, m.cols);
  const colIdx = new Int32Array(nnz);
  const values = new Float64Array(nnz);
  for (let i = 0; i < m.rows; i += 1) {
    for (let p = m.rowPtr[i]; p < m.rowPtr[i + 1]; p += 1) {
      const dest = fill[m.colIdx[p]];
      fill[m.colIdx[p]] += 1;
      colIdx[dest] = i;
      values[dest] = m.values[p];
    }
  }
  return { rows: m.cols, cols: m.rows, rowPtr, colIdx, values };
}

/**
 * M (rows × cols, sparse) · D (cols × width, dense row-major) → rows × width, dense row-major.
 * `into`, when given (rows × width values), is zeroed and written instead of a new array: the fit
 * makes several products of the same shapes, and each new array of megabytes costs a collection.
 */
export function csrTimesDense(m: CsrMatrix, d: Float64Array, width: number, into?: Float64Array): Float64Array {
  if (d.length !== m.cols * width) throw new RangeError(`dense operand has ${d.length} values, expected ${m.cols * width}`);
  if (into && into.length !== m.rows * width) throw new RangeError(`output has ${into.length} values, expected ${m.rows * width}`);
  const out = into ? into.fill(0) : new Float64Array(m.rows * width);
  const { rowPtr, colIdx, values } = m;
  for (let i = 0; i < m.rows; i += 1) {
    const o = i * width;
    const end = rowPtr[i + 1];
    let p = rowPtr[i];
    // Four non-zeros per pass over the output row: the row is then loaded and stored a quarter as
    // often, which is what bounds this loop (about 2x faster than one at a time in V8).
    for (; p + 3 < end; p += 4) {
      const v0 = values[p];
      const v1 = values[p + 1];
      const v2 = values[p + 2];
      const v3 = values[p + 3];
      const b0 = colIdx[p] * width;
      const b1 = colIdx[p + 1] * width;
      const b2 = colIdx[p + 2] * width;
      const b3 = colIdx[p + 3] * width;
      for (let c = 0; c < width; c += 1) out[o + c] += v0 * d[b0 + c] + v1 * d[b1 + c] + v2 * d[b2 + c] + v3 * d[b3 + c];
    }
    for (; p < end; p += 1) {
      const v = values[p];
      const base = colIdx[p] * width;
      for (let c = 0; c < width; c += 1) out[o + c] += v * d[base + c];
    }
  }
  return out;
}

/** A (n × k) · B (k × m), both dense row-major. */
export function denseTimesDense(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i += 1) {
    const o = i * m;
    const rowA = i * k;
    let p = 0;
    // Four rows of B per pass over the output row, as in csrTimesDense.
    for (; p + 3 < k; p += 4) {
      const v0 = a[rowA + p];
      const v1 = a[rowA + p + 1];
      const v2 = a[rowA + p + 2];
      const v3 = a[rowA + p + 3];
      const b0 = p * m;
      const b1 = b0 + m;
      const b2 = b1 + m;
      const b3 = b2 + m;
      for (let j = 0; j < m; j += 1) out[o + j] += v0 * b[b0 + j] + v1 * b[b1 + j] + v2 * b[b2 + j] + v3 * b[b3 + j];
    }
    for (; p < k; p += 1) {
      const v = a[rowA + p];
      const base = p * m;
      for (let j = 0; j < m; j += 1) out[o + j] += v * b[base + j];
    }
  }
  return out;
}

/**
 * Aᵀ B for dense row-major A and B (both n × k) whose product is known to be symmetric (e.g.
 * Qᵀ·(M Mᵀ Q)): only the upper triangle is accumulated, then mirrored, so the result is exactly
 * symmetric and costs half a full product.
 */
export function symmetricCrossProduct(a: Float64Array, b: Float64Array, n: number, k: number): Float64Array {
  if (a.length !== n * k || b.length !== n * k) throw new RangeError(`operands must both have ${n * k} values`);
  const g = new Float64Array(k * k);
  let r = 0;
  // Two rows per pass over g, which halves the loads and stores of g (the bound of this loop).
  for (; r + 1 < n; r += 2) {
    const r0 = r * k;
    const r1 = r0 + k;
    for (let i = 0; i < k; i += 1) {
      const a0 = a[r0 + i];
      const a1 = a[r1 + i];
      const gi = i * k;
      for (let j = i; j < k; j += 1) g[gi + j] += a0 * b[r0 + j] + a1 * b[r1 + j];
    }
  }
  for (; r < n; r += 1) {
    const r0 = r * k;
    for (let i = 0; i < k; i += 1) {
      const a0 = a[r0 + i];
      const gi = i * k;
      for (let j = i; j < k; j += 1) g[gi + j] += a0 * b[r0 + j];
    }
  }
  for (let i = 0; i < k; i += 1) for (let j = 0; j < i; j += 1) g[i * k + j] = g[j * k + i];
  return g;
}

/**
 * Orthonormalizes the columns of a dense row-major matrix (rows × cols) by modified Gram–Schmidt;
 * it stands in for a QR factorization, since only Q is needed.
 *
 * - A column is projected a second time only when the first pass cancelled all but 1e-3 of its
 *   norm. MGS leaves a residual whose non-orthogonality is about ε·(norm before / norm after),
 *   so this bounds it near 1e-13, plenty for a subspace basis, while blocks from power
 *   iterations (which cancel a lot, but rarely that much) mostly get away with one pass. The
 *   stricter "twice is enough" rule (re-project below 1/2) made this the slowest step of a fit.
 * - A column that is numerically in the span of the previous ones becomes zero rather than an
 *   arbitrary direction, so rank deficiency stays visible and deterministic.
 */
export function orthonormalizeColumns(a: Float64Array, rows: number, cols: number): Float64Array {
  // Column-major working copy: the inner loops then run over contiguous memory.
  const q = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r += 1) for (let c = 0; c < cols; c += 1) q[c * rows + r] = a[r * cols + c];
  // Column 0 has nothing to project out; then blocks of MGS_BLOCK columns. Each column's arithmetic is
  // exactly the one-column MGS below (same operations in the same order, so the same bits); a
  // block only shares the sweeps over the columns before it, see projectBlockOut.
  if (cols > 0) {
    const norm = Math.sqrt(dot(q, 0, q, 0, rows));
    finishColumn(q, 0, rows, norm, norm);
  }
  for (let c0 = 1; c0 < cols; c0 += MGS_BLOCK) {
    const c1 = Math.min(c0 + MGS_BLOCK, cols);
    const originalNorms = [];
    for (let c = c0; c < c1; c += 1) originalNorms.push(Math.sqrt(dot(q, c * rows, q, c * rows, rows)));
    // First pass, steps 0..c0-2 for the whole block at once (their next columns are all final),
    // then each column in turn finishes its first pass from step c0-1 on, once the columns of the
    // block before it are final.
    const proj = originalNorms.map((_, i) => dot(q, 0, q, (c0 + i) * rows, rows));
    if (c1 - c0 === MGS_BLOCK && originalNorms.every((n) => n > 0)) projectBlockOut(q, c0, rows, proj);
    else for (let i = 0; i < c1 - c0; i += 1) if (originalNorms[i] > 0) proj[i] = projectSteps(q, (c0 + i) * rows, c0 + i, rows, 0, c0 - 1, proj[i]);
    for (let c = c0; c < c1; c += 1) {
      const i = c - c0;
      const originalNorm = originalNorms[i];
      let norm = originalNorm;
      if (norm > 0) {
        // The rest of the first pass; a second, whole one only when the first cancelled all but 1e-3.
        norm = Math.sqrt(projectSteps(q, c * rows, c, rows, c0 - 1, c, proj[i]));
        if (!(norm > 1e-3 * originalNorm) && norm > 0) norm = Math.sqrt(projectOut(q, c * rows, c, rows));
      }
      finishColumn(q, c, rows, norm, originalNorm);
    }
  }
  const out = new Float64Array(rows * cols);
  for (let c = 0; c < cols; c += 1) for (let r = 0; r < rows; r += 1) out[r * cols + c] = q[c * rows + r];
  return out;
}

/**
 * Scales column `c` to unit norm, or zeroes it when it is numerically in the span of the previous
 * ones (rank deficiency stays visible and deterministic rather than an arbitrary direction).
 */
function finishColumn(q: Float64Array, c: number, rows: number, norm: number, originalNorm: number): void {
  const off = c * rows;
  if (!(norm > 1e-10 * originalNorm)) {
    q.fill(0, off, off + rows);
    return;
  }
  const inv = 1 / norm;
  for (let r = 0; r < rows; r += 1) q[off + r] *= inv;
}

/**
 * One MGS pass: removes from column `c` (at `off`) its components along columns 0..c-1, in
 * order, and returns its squared norm afterwards. Each step subtracts the projection on column j
 * and, in the same loop, takes the dot product with column j + 1 of the updated vector (exactly
 * what MGS needs next), so the vector is swept once per column instead of twice.
 */
function projectOut(q: Float64Array, off: number, c: number, rows: number): number {
  return projectSteps(q, off, c, rows, 0, c, dot(q, 0, q, off, rows));
}

/**
 * Steps `from`..`to`-1 of {@link projectOut}'s pass over column `c`, `proj` being the dot product
 * with column `from` that the step before left: what it leaves for step `to` (the squared norm
 * when `to` is `c`).
 */
function projectSteps(q: Float64Array, off: number, c: number, rows: number, from: number, to: number, proj: number): number {
  for (let j = from; j < to; j += 1) {
    const offJ = j * rows;
    let next = 0;
    if (j + 1 < c) {
      const offN = offJ + rows;
      for (let r = 0; r < rows; r += 1) {
        const v = q[off + r] - proj * q[offJ + r];
        q[off + r] = v;
        next += q[offN + r] * v;
      }
    } else {
      for (let r = 0; r < rows; r += 1) {
        const v = q[off + r] - proj * q[offJ + r];
        q[off + r] = v;
        next += v * v;
      }
    }
    proj = next;
  }
  return proj;
}

/**
 * Columns orthonormalized together by {@link projectBlockOut}. On the fit's 2243 × 266 block (a
 * loaded 2-core machine) eight took 1.4-1.7x less time than one at a time, and a quarter less than four.
 */
const MGS_BLOCK = 8;

/**
 * Steps 0..c0-2 of {@link projectSteps} for columns c0..c0+7 at once: one sweep over columns j and
 * j + 1 serves eight columns, and the eight running sums are independent, so the loop is no longer
 * bound by the latency of one chain of additions. Each column sees exactly the operations of its
 * own pass, in the same order. `proj` holds the eight columns' running values.
 */
function projectBlockOut(q: Float64Array, c0: number, rows: number, proj: number[]): void {
  const o0 = c0 * rows;
  const o1 = o0 + rows;
  const o2 = o1 + rows;
  const o3 = o2 + rows;
  const o4 = o3 + rows;
  const o5 = o4 + rows;
  const o6 = o5 + rows;
  const o7 = o6 + rows;
  let [p0, p1, p2, p3, p4, p5, p6, p7] = proj;
  for (let j = 0; j + 1 < c0; j += 1) {
    const offJ = j * rows;
    const offN = offJ + rows;
    let n0 = 0;
    let n1 = 0;
    let n2 = 0;
    let n3 = 0;
    let n4 = 0;
    let n5 = 0;
    let n6 = 0;
    let n7 = 0;
    for (let r = 0; r < rows; r += 1) {
      const x = q[offJ + r];
      const y = q[offN + r];
      const v0 = q[o0 + r] - p0 * x;
      q[o0 + r] = v0;
      n0 += y * v0;
      const v1 = q[o1 + r] - p1 * x;
      q[o1 + r] = v1;
      n1 += y * v1;
      const v2 = q[o2 + r] - p2 * x;
      q[o2 + r] = v2;
      n2 += y * v2;
      const v3 = q[o3 + r] - p3 * x;
      q[o3 + r] = v3;
      n3 += y * v3;
      const v4 = q[o4 + r] - p4 * x;
      q[o4 + r] = v4;
      n4 += y * v4;
      const v5 = q[o5 + r] - p5 * x;
      q[o5 + r] = v5;
      n5 += y * v5;
      const v6 = q[o6 + r] - p6 * x;
      q[o6 + r] = v6;
      n6 += y * v6;
      const v7 = q[o7 + r] - p7 * x;
      q[o7 + r] = v7;
      n7 += y * v7;
    }
    p0 = n0;
    p1 = n1;
    p2 = n2;
    p3 = n3;
    p4 = n4;
    p5 = n5;
    p6 = n6;
    p7 = n7;
  }
  proj.splice(0, MGS_BLOCK, p0, p1, p2, p3, p4, p5, p6, p7);
}

function dot(a: Float64Array, offA: number, b: Float64Array, offB: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i += 1) s += a[offA + i] * b[offB + i];
  return s;
}

/** Eigen-decomposition of a symmetric matrix. */
export interface SymmetricEigen {
  /** Eigenvalues in descending order. */
  values: Float64Array;
  /** Eigenvectors as rows (n × n row-major): row i belongs to values[i]. */
  vectors: Float64Array;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/**
 * Eigen-decomposition of a symmetric n × n matrix (row-major; only the upper triangle is read) by
 * the cyclic Jacobi method with threshold (Numerical Recipes §11.1). Jacobi is slower than
 * tridiagonal QL, but it is simple, unconditionally convergent and accurate for small eigenvalues,
 * and n here is the sketch width (a few hundred), so it costs well under a second.
 */
export function jacobiEigenSymmetric(matrix: Float64Array, n: number, maxSweeps = 60): SymmetricEigen {
  if (matrix.length !== n * n) throw new RangeError(`matrix has ${matrix.length} values, expected ${n * n}`);
  const a = Float64Array.from(matrix);
  // Eigenvectors are accumulated as rows, so each rotation touches two contiguous rows.
  const vt = new Float64Array(n * n);
  const d = new Float64Array(n);
  const b = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    vt[i * n + i] = 1;
    d[i] = a[i * n + i];
    b[i] = d[i];
  }
  let sweeps = 0;
  for (let sweep = 1; sweep <= maxSweeps; sweep += 1) {
    let off = 0;
    for (let p = 0; p < n - 1; p += 1) for (let q = p + 1; q < n; q += 1) off += Math.abs(a[p * n + q]);
    if (off === 0) break;
    sweeps = sweep;
    // Early sweeps rotate only large elements, which saves the work of polishing tiny ones
    // before the big ones are gone.
    const threshold = sweep < 4 ? (0.2 * off) / (n * n) : 0;
    for (let p = 0; p < n - 1; p += 1) {
      for (let q = p + 1; q < n; q += 1) {
        const apq = a[p * n + q];
        const g = 100 * Math.abs(apq);
        // After a few sweeps, an element too small to change either diagonal entry is set to
        // zero outright; this is what makes the loop terminate with an exactly zero off-norm.
        if (sweep > 4 && Math.abs(d[p]) + g === Math.abs(d[p]) && Math.abs(d[q]) + g === Math.abs(d[q])) {
          a[p * n + q] = 0;
          continue;
        }
        if (Math.abs(apq) <= threshold) continue;
        let h = d[q] - d[p];
        let t: number;
        if (Math.abs(h) + g === Math.abs(h)) {
          t = apq / h;
        } else {
          const theta = (0.5 * h) / apq;
          t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
          if (theta < 0) t = -t;
        }
        const c = 1 / Math.sqrt(1 + t * t);
        const s = t * c;
        const tau = s / (1 + c);
        h = t * apq;
        z[p] -= h;
        z[q] += h;
        d[p] -= h;
        d[q] += h;
        a[p * n + q] = 0;
        // The rotation written out per loop with the offsets hoisted (the same operations as
        // rotate(), in the same order): this is the inner loop of the whole fit.
        const rowP = p * n;
        const rowQ = q * n;
        for (let i = p, k = q; i < rowP; i += n, k += n) {
          const g0 = a[i];
          const h0 = a[k];
          a[i] = g0 - s * (h0 + g0 * tau);
          a[k] = h0 + s * (g0 - h0 * tau);
        }
        for (let j = p + 1, k = (p + 1) * n + q; j < q; j += 1, k += n) {
          const g0 = a[rowP + j];
          const h0 = a[k];
          a[rowP + j] = g0 - s * (h0 + g0 * tau);
          a[k] = h0 + s * (g0 - h0 * tau);
        }
        for (let j = q + 1; j < n; j += 1) {
          const g0 = a[rowP + j];
          const h0 = a[rowQ + j];
          a[rowP + j] = g0 - s * (h0 + g0 * tau);
          a[rowQ + j] = h0 + s * (g0 - h0 * tau);
        }
        for (let j = 0; j < n; j += 1) {
          const g0 = vt[rowP + j];
          const h0 = vt[rowQ + j];
          vt[rowP + j] = g0 - s * (h0 + g0 * tau);
          vt[rowQ + j] = h0 + s * (g0 - h0 * tau);
        }
      }
    }
    for (let p = 0; p < n; p += 1) {
      b[p] += z[p];
      d[p] = b[p];
      z[p] = 0;
    }
  }
  // Descending order; equal eigenvalues keep their index order, so the result is deterministic.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i] || i - j);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    vectors.set(vt.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors, sweeps };
}

/** Options of {@link randomizedSvd}. */
export interface RandomizedSvdOptions {
  /** Extra sketch columns beyond k; Halko et al. recommend 5–10. Default 10. */
  oversampling?: number;
  /**
   * Power (subspace) iterations; each raises the spectrum to a higher power so the sketch
   * separates the top-k subspace better from the rest (text spectra decay slowly). Default 2.
   */
  powerIterations?: number;
  /** Seed of the Gaussian test matrix. */
  seed: number;
  /**
   * Components whose singular value is at most this fraction of the largest are dropped: they are
   * beyond the numerical rank, and dividing by them (fold-in) would amplify rounding noise.
   * Default 1e-6.
   */
  relativeTolerance?: number;
}

/** A truncated SVD A ≈ U Σ Vᵀ of which only Σ and V are kept. */
export interface TruncatedSvd {
  /** Singular values, descending; length k (may be less than requested, see relativeTolerance). */
  singularValues: Float64Array;
  /** Right singular vectors (A.cols × k, row-major): row j is column j of A in the latent space. */
  v: Float64Array;
  k: number;
}

/**
 * Truncated SVD of a sparse matrix by randomized range finding with subspace iteration
 * (Halko et al. 2011, Algorithms 4.4 and 5.1). The sketch is taken on the shorter side of the
 * matrix, so the dense blocks that are orthonormalized are as small as possible:
 *
 * 1. M = A if rows ≤ cols, else Aᵀ (M is s × t with s ≤ t); Ω is t × l Gaussian, l = k + p.
 * 2. Q = orth(M Ω); then powerIterations × Q = orth(M (Mᵀ Q)). Only the s × l block is
 *    re-orthonormalized; the intermediate t × l block has condition number at most κ(M) and is
 *    consumed immediately, which double precision tolerates for a few iterations.
 * 3. For B = Qᵀ M (l × t): B Bᵀ = Qᵀ M (Mᵀ Q) (l × l) = W Λ Wᵀ by Jacobi; σ = √λ.
 * 4. The left singular vectors of M are Q W; the right ones Mᵀ Q W Σ⁻¹. Whichever side is A's
 *    column side is returned as V.
 *
 * Forming B Bᵀ squares the condition number, so singular values below ~1e-8 σ₁ lose relative
 * accuracy; they are dropped anyway (relativeTolerance).
 */
export function randomizedSvd(a: CsrMatrix, k: number, options: RandomizedSvdOptions): TruncatedSvd {
  const oversampling = options.oversampling ?? 10;
  const powerIterations = options.powerIterations ?? 2;
  const relativeTolerance = options.relativeTolerance ?? 1e-6;
  const at = transposeCsr(a);
  const rowsShort = a.rows <= a.cols;
  const m = rowsShort ? a : at;
  const mt = rowsShort ? at : a;
  const s = m.rows;
  const t = m.cols;
  const kk = Math.max(0, Math.min(k, s));
  const l = Math.min(kk + oversampling, s);
  if (kk === 0 || l === 0) return { singularValues: new Float64Array(0), v: new Float64Array(0), k: 0 };

  const rng = new SeededRandom(options.seed);
  const omega = new Float64Array(t * l);
  for (let i = 0; i < omega.length; i += 1) omega[i] = rng.nextGaussian();

  // The products' buffers are reused from one power iteration to the next (same values, fewer collections).
  const y = csrTimesDense(m, omega, l);
  // Ω is t × l, as Mᵀ Q is: its buffer is free once Y = M Ω is taken.
  const z = omega;
  let q = orthonormalizeColumns(y, s, l);
  for (let it = 0; it < powerIterations; it += 1) {
    q = orthonormalizeColumns(csrTimesDense(m, csrTimesDense(mt, q, l, z), l, y), s, l);
  }
  // B Bᵀ = Qᵀ M Mᵀ Q, accumulated on the short side (s × l blocks) rather than as Zᵀ Z over the
  // long side (t × l): half the work when there are twice as many terms as documents.
  const eig = jacobiEigenSymmetric(symmetricCrossProduct(q, csrTimesDense(m, csrTimesDense(mt, q, l, z), l, y), s, l), l);

  const largest = Math.sqrt(Math.max(eig.values[0], 0));
  let keep = 0;
  while (keep < kk && largest > 0 && Math.sqrt(Math.max(eig.values[keep], 0)) > relativeTolerance * largest) keep += 1;
  const sigma = new Float64Array(keep);
  for (let i = 0; i < keep; i += 1) sigma[i] = Math.sqrt(eig.values[i]);
  // W (l × keep): column i is eigenvector i, i.e. row i of eig.vectors.
  const w = new Float64Array(l * keep);
  for (let i = 0; i < keep; i += 1) for (let r = 0; r < l; r += 1) w[r * keep + i] = eig.vectors[i * l + r];
  const uShort = denseTimesDense(q, w, s, l, keep);
  if (!rowsShort) return { singularValues: sigma, v: uShort, k: keep };
  const v = csrTimesDense(mt, uShort, keep);
  for (let r = 0; r < t; r += 1) for (let i = 0; i < keep; i += 1) v[r * keep + i] /= sigma[i];
  return { singularValues: sigma, v, k: keep };
}
