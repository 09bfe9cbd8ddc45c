//! jiayi's sync protocol as data, shared by the server, the simulator and the tests: the
//! wire types of push and pull (`wire`), the error shape and the kinds that decide its
//! HTTP status (`error`), the stable error codes with what each means and where it is
//! answered (`codes`), and the closed vocabularies: entity and action kinds, contract
//! states and the review queue's kinds, states and decisions (`vocabulary`). The server's
//! docs/sync-protocol.md is the prose; its table of codes is rendered from `codes`.

pub mod codes;
pub mod error;
pub mod vocabulary;
pub mod wire;
