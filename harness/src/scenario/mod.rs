//! Declarative scenarios: the data model, expressions, and loading.

pub mod expr;
pub mod load;
pub mod model;
