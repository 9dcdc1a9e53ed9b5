//! Cell-key perturbation of the person counts analysts read (docs/STATS.md, "Protecting
//! small counts").
//!
//! Every person (trainee, team member) gets a random key in `0..KEY_SPACE` when recorded,
//! never shown. Every counter row keeps, next to the number of people it counts (`n`), the
//! sum of their keys (`k`); both are additive, so the write path's after − before deltas,
//! the rollups and a closed report's copy keep them exact, and `stats rebuild` checks them.
//! A published cell's true count `n` and key sum `k` depend only on *which* people it
//! counts, so whatever endpoint, filter, period or area an analyst asks for, the same set
//! of people is always published as the same number.
//!
//! An analyst reads `n + perturbation(n, position)`, where the cell's position is
//! `(k + offset) mod KEY_SPACE` and `offset` a secret derived from the server's privacy
//! key: uniform, and unknown to the reader. The table ([`perturbation`]) is unbiased
//! (the mean published value is the true count), never publishes 1 or 2, and moves a
//! cell by at most 2 people (4 for counts of 1–4, which may publish as 0 or 3–6).
//! Totals are perturbed on their own (n, k), never summed from perturbed cells; rates are
//! computed from published counts.

use rand::Rng;

use crate::base::config::Secret;

/// Keys and cell positions are taken modulo this.
pub const KEY_SPACE: i64 = 1 << 31;

/// The table's resolution: a position falls in one of 60 equal slices.
const SLICES: i64 = 60;

/// A new person's key: uniform in `0..KEY_SPACE`.
pub fn new_person_key() -> i64 {
    rand::thread_rng().gen_range(0..KEY_SPACE)
}

/// What is added to a true count `n` whose cell lies at `position` (`0..KEY_SPACE`).
///
/// Slices of 60 (so probabilities, the position being uniform):
/// - n = 0: 0 (nobody is described; zeros stay zeros);
/// - n = 1: published 0 (40/60) or 3 (20/60);
/// - n = 2: published 0 (20/60) or 3 (40/60);
/// - n = 3: published 0 (12/60), 3 (24/60), 4 (12/60), 5 (12/60);
/// - n = 4: published 0 (3/60), 3 (12/60), 4 (27/60), 5 (12/60), 6 (6/60);
/// - n ≥ 5: n − 2 (6/60), n − 1 (12/60), n (24/60), n + 1 (12/60), n + 2 (6/60).
///
/// Each row's mean is its n.
pub fn perturbation(n: i64, position: i64) -> i64 {
    let slice = position.rem_euclid(KEY_SPACE) * SLICES / KEY_SPACE;
    // (upper bound of the slice range, published value) for n = 1..4; deltas for n ≥ 5.
    let pick = |table: &[(i64, i64)]| table.iter().find(|(upper, _)| slice < *upper).map_or(n, |(_, v)| *v);
    let published = match n {
        i64::MIN..=0 => return 0,
        1 => pick(&[(40, 0), (60, 3)]),
        2 => pick(&[(20, 0), (60, 3)]),
        3 => pick(&[(12, 0), (36, 3), (48, 4), (60, 5)]),
        4 => pick(&[(3, 0), (15, 3), (42, 4), (54, 5), (60, 6)]),
        _ => n + pick(&[(6, -2), (18, -1), (42, 0), (54, 1), (60, 2)]),
    };
    published - n
}

/// The secret part of the cell positions of one installation.
#[derive(Clone, Copy)]
pub struct CellKeys {
    offset: i64,
}

impl std::fmt::Debug for CellKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CellKeys(***)")
    }
}

impl CellKeys {
    /// Derived from the server's privacy key (`HOCVUSO_ID_HASH_SECRET`): stable across
    /// restarts and instances, so a cell always publishes the same value.
    pub fn from_secret(secret: &Secret) -> CellKeys {
        let h = crate::domain::privacy::id_hash(secret, "hocvuso statistics cell-key offset");
        let offset = i64::from_str_radix(h.get(..8).unwrap_or("0"), 16).unwrap_or(0) % KEY_SPACE;
        CellKeys { offset }
    }

    /// The value an analyst reads for a cell of `n` people whose keys sum to `key_sum`.
    pub fn publish(&self, n: i64, key_sum: i64) -> i64 {
        let position = (key_sum.rem_euclid(KEY_SPACE) + self.offset).rem_euclid(KEY_SPACE);
        n + perturbation(n, position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published value of `n` at each of the 60 slices.
    fn row(n: i64) -> Vec<i64> {
        (0..SLICES).map(|s| n + perturbation(n, s * KEY_SPACE / SLICES + 1)).collect()
    }

    #[test]
    fn the_table_is_unbiased_bounded_and_never_publishes_one_or_two() {
        assert_eq!(row(0), vec![0; 60]);
        for n in 1..=300 {
            let r = row(n);
            assert_eq!(r.iter().sum::<i64>(), n * SLICES, "mean of n = {n}");
            assert!(r.iter().all(|v| *v != 1 && *v != 2), "n = {n}: {r:?}");
            let bound = if n < 5 { 4 } else { 2 };
            assert!(r.iter().all(|v| (v - n).abs() <= bound), "n = {n}: {r:?}");
        }
        // Positions outside the key space wrap.
        assert_eq!(perturbation(7, -1), perturbation(7, KEY_SPACE - 1));
        assert_eq!(perturbation(7, KEY_SPACE), perturbation(7, 0));
    }

    #[test]
    fn a_cell_always_publishes_the_same_value_and_keys_differ() {
        let keys = CellKeys::from_secret(&Secret::new(b"a".to_vec()));
        let other = CellKeys::from_secret(&Secret::new(b"b".to_vec()));
        assert_ne!(keys.offset, other.offset);
        for k in [0, 1, 12_345, KEY_SPACE * 3 + 7] {
            assert_eq!(keys.publish(10, k), keys.publish(10, k));
        }
        let k = new_person_key();
        assert!((0..KEY_SPACE).contains(&k));
    }
}
