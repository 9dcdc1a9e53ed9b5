//! The store layer: the two database backends behind one connection type, the diesel
//! schema and row types, migrations, write transactions and change numbers, and the
//! writing of audit entries.

pub mod audit;
pub mod backup;
pub mod db;
pub mod rows;
pub mod schema;
pub mod settings;
pub mod stamp;
pub mod values;
