//! Rampart's detection core: PII, secrets and API keys, found and redacted at memory speed.
//!
//! - [`detectors`]: the static registry; each [`Detector`] carries its id, docs, pattern,
//!   validator, context words and its own positive and negative examples.
//! - [`Scanner`]: every pattern compiled into one multi-pattern automaton; validators run
//!   only on hits; linear time on any input.
//! - [`decode`]: JSON escapes, percent-encoding, base64 and gzip/deflate, with offsets mapped back.
//! - [`Scanner::scan`]: whole-buffer scanning through every layer, returning a [`Scan`].
//! - [`Redactor`]: mask, partial, keyed hash, format-preserving fake, reversible tokens.
//! - [`StreamScanner`]: chunk in, safe bytes out, with a bounded hold-back.
//! - [`markup`]: markdown and HTML images and links read as a renderer reads them, so a removed
//!   one takes its whole URL with it.
//!
//! Pure and synchronous: no IO, no async, and a scan of text cannot fail (only decoding of
//! compressed or oversized input can).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod confusable;
pub mod corpus;
pub mod decode;
pub mod detector;
pub mod detectors;
pub mod hash;
pub mod markup;
pub mod redact;
pub mod scan;
pub mod scanner;
pub mod skim;
pub mod stream;
pub mod validate;

pub use decode::DecodeError;
pub use detector::{Context, Detector, Gate, Surroundings, Validator};
pub use hash::HashKey;
pub use redact::{Chooser, Redactor, Strategy, Vault};
pub use scan::{Found, Scan, ScanOptions};
pub use scanner::{BuildError, Diagnostic, Hit, Scanner, ScannerConfig};
pub use stream::StreamScanner;
