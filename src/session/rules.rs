//! Which definition wins when two units in one JITDylib define the same name.
//!
//! Strong beats weak and common; two strong definitions are an error naming both; among weak
//! definitions the first added wins; commons merge into the first, growing to the largest
//! size and strictest alignment; a weak or common definition never replaces a strong one.

use jitld_linker::format::Strength;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The existing definition stays; the new one is discarded.
    KeepExisting,
    /// The new definition replaces the existing one, which is discarded.
    Replace,
    /// Both are commons: the existing one grows to this.
    MergeCommon {
        size: u64,
        align: u64,
    },
    Duplicate,
}

pub fn resolve(existing: Strength, new: Strength) -> Outcome {
    use Strength::*;
    match (existing, new) {
        (Strong, Strong) => Outcome::Duplicate,
        (Strong, _) => Outcome::KeepExisting,
        (Weak | Common { .. }, Strong) => Outcome::Replace,
        (Common { size: s1, align: a1 }, Common { size: s2, align: a2 }) => {
            Outcome::MergeCommon { size: s1.max(s2), align: a1.max(a2) }
        }
        // A tentative definition beats a weak one, as in ld.
        (Weak, Common { .. }) => Outcome::Replace,
        (Weak, Weak) | (Common { .. }, Weak) => Outcome::KeepExisting,
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
    }
}
