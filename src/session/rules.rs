//! Which definition wins when two units in one JITDylib define the same name.
//!
//! Strong beats weak and common; two strong definitions are an error naming both; among weak
//! definitions the first added wins; commons merge into the first, growing to the largest
//! size and strictest alignment; a weak or common definition never replaces a strong one.
//! Copies that must agree (`Selected`) compete as weak ones, and their rule is checked: the
//! same size, the same contents, or the largest wins.

use jitld_linker::format::Strength;
use jitld_linker::Selection;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The existing definition stays; the new one is discarded.
    KeepExisting,
    /// The new definition replaces the existing one, which is discarded.
    Replace,
    /// Both are commons: the existing one grows to this.
    MergeCommon {
        size: u64,
        align: u32,
    },
    Duplicate,
    /// Copies that must agree do not: why.
    Mismatch(&'static str),
}

pub fn resolve(existing: Strength, new: Strength) -> Outcome {
    use Strength::*;
    match (existing, new) {
        (Strong, Strong) => Outcome::Duplicate,
        (Strong, _) => Outcome::KeepExisting,
        (Weak | Common { .. } | Selected { .. }, Strong) => Outcome::Replace,
        (Common { size: s1, align: a1 }, Common { size: s2, align: a2 }) => {
            Outcome::MergeCommon { size: s1.max(s2), align: a1.max(a2) }
        }
        // A tentative definition beats a weak one, as in ld.
        (Weak | Selected { .. }, Common { .. }) => Outcome::Replace,
        (Selected { rule: r1, size: s1, contents: c1 }, Selected { rule: r2, size: s2, contents: c2 }) => {
            match (r1 == r2, r1) {
                (false, _) => Outcome::Mismatch("the copies are selected by different rules"),
                (true, Selection::SameSize) if s1 != s2 => Outcome::Mismatch("the copies differ in size"),
                (true, Selection::SameContents) if (s1, c1) != (s2, c2) => {
                    Outcome::Mismatch("the copies differ in contents")
                }
                (true, Selection::Largest) if s2 > s1 => Outcome::Replace,
                _ => Outcome::KeepExisting,
            }
        }
        (Weak, Weak | Selected { .. }) | (Common { .. } | Selected { .. }, Weak) | (Common { .. }, Selected { .. }) => {
            Outcome::KeepExisting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Strength::*;

    #[test]
    fn every_pair() {
        let common = |size, align| Common { size, align };
        assert_eq!(resolve(Strong, Strong), Outcome::Duplicate);
        assert_eq!(resolve(Strong, Weak), Outcome::KeepExisting);
        assert_eq!(resolve(Strong, common(4, 4)), Outcome::KeepExisting);
        assert_eq!(resolve(Weak, Strong), Outcome::Replace);
        assert_eq!(resolve(Weak, Weak), Outcome::KeepExisting);
        assert_eq!(resolve(Weak, common(4, 4)), Outcome::Replace);
        assert_eq!(resolve(common(4, 4), Strong), Outcome::Replace);
        assert_eq!(resolve(common(4, 4), Weak), Outcome::KeepExisting);
        assert_eq!(resolve(common(16, 4), common(64, 8)), Outcome::MergeCommon { size: 64, align: 8 });
        let selected = |rule, size, contents| Selected { rule, size, contents };
        let same_size = |size| selected(Selection::SameSize, size, u64::from(size) * 3);
        assert_eq!(resolve(same_size(8), same_size(8)), Outcome::KeepExisting);
        assert!(matches!(resolve(same_size(8), same_size(16)), Outcome::Mismatch(_)));
        let same = |size, contents| selected(Selection::SameContents, size, contents);
        assert_eq!(resolve(same(8, 1), same(8, 1)), Outcome::KeepExisting);
        assert!(matches!(resolve(same(8, 1), same(8, 2)), Outcome::Mismatch(_)));
        let largest = |size| selected(Selection::Largest, size, 0);
        assert_eq!(resolve(largest(8), largest(16)), Outcome::Replace);
        assert_eq!(resolve(largest(16), largest(8)), Outcome::KeepExisting);
        assert!(matches!(resolve(largest(8), same_size(8)), Outcome::Mismatch(_)));
        assert_eq!(resolve(Weak, largest(8)), Outcome::KeepExisting);
        assert_eq!(resolve(largest(8), Strong), Outcome::Replace);
        assert_eq!(resolve(Strong, largest(8)), Outcome::KeepExisting);
        assert_eq!(resolve(largest(8), common(4, 4)), Outcome::Replace);
    }
}
