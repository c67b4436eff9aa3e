//! The exceptions the binding raises besides builtins' plain uses (TypeError
//! for a wrong type, ValueError for a bad argument, OSError for the OS). They
//! are defined once, in Python (`scanbridge.errors`, under `ScanbridgeError`),
//! and imported from there when first raised.

pyo3::import_exception!(scanbridge.errors, QueueFull);
pyo3::import_exception!(scanbridge.errors, TlsConfigError);
pyo3::import_exception!(scanbridge.errors, DeflateError);
pyo3::import_exception!(scanbridge.errors, RoomError);

/// `TlsConfigError` with the error's message.
pub fn tls_error(e: impl std::fmt::Display) -> pyo3::PyErr {
    TlsConfigError::new_err(e.to_string())
}

/// `DeflateError` with the error's message.
pub fn deflate_error(e: impl std::fmt::Display) -> pyo3::PyErr {
    DeflateError::new_err(e.to_string())
}
