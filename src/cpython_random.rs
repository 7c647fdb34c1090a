//! CPython's `random` module, as far as the evaluation needs it: `random.seed(int)` (MT19937
//! `init_by_array`), `getrandbits(k ≤ 32)`, `_randbelow`, `random.sample(range(n), k)` with its
//! set/pool switch, so that the 10 evaluation subsets are the authors' subsets, index for index;
//! and `random.shuffle`, which the POS tagger's training uses (spec/phase1-pos-tagger.md).
//!
//! Spec: spec/eval-cpython-sampling.md. Authors' code: `random.seed(1234)` and
//! `random.sample(range(len(names)), N)` in `test.py::improved_rank_emb` (git-disl/SEJE @ 694a835).
//! Mirrors CPython 3.7–3.11 `Modules/_randommodule.c` (MT19937 of Matsumoto and Nishimura, 2002
//! version of `init_by_array`) and `Lib/random.py::sample` and `_randbelow_with_getrandbits`,
//! written from their published algorithms.

use crate::error::{Error, Result};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// A Mersenne Twister in the state CPython's `random.Random` would be in.
#[derive(Clone)]
pub struct CpythonRandom {
    mt: [u32; N],
    index: usize,
}

impl std::fmt::Debug for CpythonRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpythonRandom")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl CpythonRandom {
    /// `random.seed(seed)` for a non-negative integer: the key is the seed's 32-bit words, least
    /// significant first (`[0]` for 0), fed to `init_by_array`.
    pub fn seed(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        Self::from_key(&key)
    }

    /// MT19937 `init_by_array(key)`.
    pub fn from_key(key: &[u32]) -> Self {
        let mut r = Self::from_u32(19_650_218);
        let mt = &mut r.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let key_len = key.len().max(1);
        for _ in 0..N.max(key_len) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key.get(j).copied().unwrap_or(0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key_len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000; // MSB is 1, assuring a non-zero initial array
        r
    }

    /// MT19937 `init_genrand(s)`: the state of NumPy's legacy `np.random.seed(s)` (its
    /// `mt19937_seed`), which the gradient penalty's α stream follows
    /// (spec/phase2-training-step.md).
    pub fn from_u32(s: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = s;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self { mt, index: N }
    }

    fn twist(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for k in 0..N {
            let y = (self.mt[k] & UPPER_MASK) | (self.mt[(k + 1) % N] & LOWER_MASK);
            self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag(y);
        }
        self.index = 0;
    }

    /// The next 32-bit output (`genrand_uint32`).
    pub fn genrand_uint32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A double in [0, 1) from two outputs, `(a >> 5, b >> 6)` → `(a·2²⁶ + b) / 2⁵³`: CPython's
    /// `random.random()` and NumPy's legacy `random_sample` (`mt19937_next_double`) alike.
    pub fn random(&mut self) -> f64 {
        let a = f64::from(self.genrand_uint32() >> 5);
        let b = f64::from(self.genrand_uint32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `getrandbits(k)` for `k ≤ 32`: the top `k` bits of one output (0 for `k = 0`).
    pub fn getrandbits(&mut self, k: u32) -> Result<u32> {
        match k {
            0 => Ok(0),
            1..=32 => Ok(self.genrand_uint32() >> (32 - k)),
            _ => Err(Error::Invalid {
                what: format!("getrandbits({k})"),
                problem: "only k <= 32 is ported".into(),
            }),
        }
    }

    /// `_randbelow(n)` by rejection: draw `bit_length(n)` bits until the value is below `n`.
    pub fn randbelow(&mut self, n: u32) -> Result<u32> {
        if n == 0 {
            return Err(Error::Invalid {
                what: "randbelow(0)".into(),
                problem: "the range is empty".into(),
            });
        }
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k)?;
            if r < n {
                return Ok(r);
            }
        }
    }

    /// `random.shuffle(x)` (CPython 3.7–3.11 with the default `random` argument): for `i` from
    /// `len - 1` down to 1, swap `x[i]` with `x[_randbelow(i + 1)]`.
    pub fn shuffle<T>(&mut self, x: &mut [T]) -> Result<()> {
        for i in (1..x.len()).rev() {
            let n = u32::try_from(i + 1).map_err(|_| Error::Invalid {
                what: format!("shuffle of {} items", x.len()),
                problem: "lists above 2^32 items are not ported".into(),
            })?;
            let j = self.randbelow(n)? as usize;
            x.swap(i, j);
        }
        Ok(())
    }

    /// `random.sample(range(n), k)`: `k` distinct indices in selection order.
    pub fn sample_range(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        if k > n {
            return Err(Error::Invalid {
                what: format!("sample of {k} from range({n})"),
                problem: "sample larger than population".into(),
            });
        }
        let n32 = u32::try_from(n).map_err(|_| Error::Invalid {
            what: format!("range({n})"),
            problem: "populations above 2^32 - 1 are not ported".into(),
        })?;
        let mut out = Vec::with_capacity(k);
        if sample_uses_pool(n, k) {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow(n32 - i as u32)? as usize;
                out.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = vec![false; n];
            for _ in 0..k {
                let mut j = self.randbelow(n32)? as usize;
                while selected[j] {
                    j = self.randbelow(n32)? as usize;
                }
                selected[j] = true;
                out.push(j);
            }
        }
        Ok(out)
    }
}

/// CPython's `setsize`: 21, plus `4 ** ceil(log(3k, 4))` when `k > 5` (computed in doubles, as
/// `math.log(x, base)` does).
pub fn sample_setsize(k: usize) -> f64 {
    let mut setsize = 21.0;
    if k > 5 {
        let e = ((3.0 * k as f64).ln() / 4f64.ln()).ceil();
        setsize += 4f64.powf(e);
    }
    setsize
}

/// Whether `sample(range(n), k)` takes the pool branch (`n <= setsize`) rather than the set branch.
pub fn sample_uses_pool(n: usize, k: usize) -> bool {
    (n as f64) <= sample_setsize(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Python: random.seed(1234); [random.getrandbits(32) for _ in range(3)]
    #[test]
    fn seed_1234_first_words() {
        let mut r = CpythonRandom::seed(1234);
        let w: Vec<u32> = (0..3).map(|_| r.genrand_uint32()).collect();
        assert_eq!(w, [4_150_886_329, 3_342_196_574, 1_892_932_127]);
    }

    #[test]
    fn setsize_thresholds_of_the_spec() {
        assert_eq!(sample_setsize(1000), 4117.0);
        assert_eq!(sample_setsize(10_000), 65_557.0);
        assert_eq!(sample_setsize(20_000), 65_557.0);
        assert_eq!(sample_setsize(30_000), 262_165.0);
        assert_eq!(sample_setsize(50_000), 262_165.0);
        assert_eq!(sample_setsize(5), 21.0);
    }

    #[test]
    fn oversized_sample_is_an_error() {
        let err = CpythonRandom::seed(1).sample_range(3, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sample of 4 from range(3): sample larger than population"
        );
    }
}
