//! Layers turn program representations into materialization units.

mod data;
mod object;

pub use data::DataUnit;
pub use object::{AddedObject, LinkPlugin, ObjectLinkingLayer};
