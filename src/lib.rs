//! ferroflow
