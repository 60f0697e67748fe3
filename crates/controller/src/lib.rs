//! Rampart's Kubernetes controller: Rampart's custom resources ([`crd`]), the fake API server
//! the tests run the real kube client and kubectl against ([`testing`]).
#![forbid(unsafe_code)]

pub mod crd;
pub mod testing;
