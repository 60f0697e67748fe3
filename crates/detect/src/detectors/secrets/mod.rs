//! Secret and API-key detectors, written from vendors' public descriptions of their key formats.
//!
//! Every detector here reports class `SECRET`; its id names the key kind. Specific formats (a
//! vendor prefix, a fixed length, a checksum) come first; `generic` holds the keyword-plus-entropy
//! fallbacks and is listed last in the registry.

pub mod ai;
pub mod chat;
pub mod cloud;
pub mod code;
pub mod crypto;
pub mod generic;
pub mod messaging;
pub mod payments;
pub mod saas;
