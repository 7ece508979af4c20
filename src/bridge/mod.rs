//! Bridges to where users already work: curl commands both ways, Postman
//! collections in. They produce or read collections; the pipeline does not
//! know them.

pub mod curl;
pub mod postman;
