//! Pure rules: no database, no clock, no I/O. Time is passed in.

pub mod access;
