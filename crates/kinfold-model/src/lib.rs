//! The records Kinfold keeps and the IDs that name them, with no database behind them: the
//! store reads and writes them, the services hand them out, and the web layer shows them, so
//! the web layer needs neither the store nor its drivers.

mod domain;
mod ids;
mod records;
mod staffing;

pub use domain::*;
pub use ids::*;
pub use records::*;
pub use staffing::*;
