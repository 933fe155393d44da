//! Which checks of which suites test each requirement of the catalogue.
