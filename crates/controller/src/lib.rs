//! Rampart's Kubernetes controller ([`controller`]): watches the cluster, keeps the pod
//! identity index ([`index`]), audits posture, hands `RuntimePolicy` resources to gateways,
//! reconciles quarantines ([`quarantine`]); Rampart's custom resources ([`crd`]); and the
//! fake API server the tests run the real kube client and kubectl against ([`testing`]).
#![forbid(unsafe_code)]

pub mod controller;
pub mod crd;
pub mod index;
pub mod quarantine;
pub mod testing;
