//! Cross-replica batch norm (todo).
