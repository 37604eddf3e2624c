//! Integration tests for the HTTP layer, over a real (encrypted) SQLite file, driven with
//! `oneshot`. One test binary for the crate: modules below, one per area.

mod at_once;
mod contract;
mod harness;

mod attendance;
mod audit;
mod center;
mod center_sessions;
mod children_admin;
mod classrooms;
mod compose;
mod corrections;
mod csrf_and_input;
mod enrollment;
mod errors;
mod form_matrix;
mod headers;
mod keys;
mod links;
mod messages;
mod mfa;
mod names;
mod openapi;
mod operators;
mod password_reset;
mod people;
mod people_parents;
mod pickups;
mod policy_admin;
mod ratio_table;
mod ratios;
mod records;
mod rooms;
mod second_factor;
mod sessions;
mod sheets;
mod sign_in;
mod tenant;
mod throttle;
mod webhooks;
