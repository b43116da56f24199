//! Declarative scenarios: the data model, expressions, and loading.

pub mod checked;
pub mod expr;
pub mod load;
pub mod model;
pub mod repeat;
