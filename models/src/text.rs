//! Typed reasons that travel as text.
//!
//! Events carry enums, not free text, so code matches on a variant instead
//! of a substring; the trace records each reason by its `Display` text, so
//! a run's trace (and its pinned hash) is the same as when the reasons were
//! strings.

/// Implements `serde::Serialize` for types that serialise as their
/// `Display` text.
macro_rules! serialize_as_display {
    ($($name:ty),+ $(,)?) => {
        $(
            impl serde::Serialize for $name {
                fn serialize<S: serde::Serializer>(
                    &self,
                    serializer: S,
                ) -> Result<S::Ok, S::Error> {
                    serializer.collect_str(self)
                }
            }
        )+
    };
}

pub(crate) use serialize_as_display;

/// For a field whose type is another crate's or has no `Serialize` of its
/// own (an error carried in a reason): serialise its `Display` text.
pub(crate) fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
