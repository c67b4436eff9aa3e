//! `scanbridge._core`: the Rust core as a Python module. Conversions only;
//! the logic lives in `scanbridge-core`.
use pyo3::prelude::*;

mod client;
mod codec;
mod errors;
mod events;
mod hid;
mod rules;
mod server;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<server::Server>()?;
    server::register(m)?;
    codec::register(m)?;
    client::register(m)?;
    hid::register(m)?;
    rules::register(m)?;
    Ok(())
}
