//! Layers turn program representations into materialization units.

pub(crate) mod ahead;
mod data;
mod gathered;
mod object;

pub use data::DataUnit;
pub use gathered::{GatheredSections, SectionBoundsUnit};
pub use object::{AddedObject, LinkPlugin, ObjectLinkingLayer, ReadObject};
