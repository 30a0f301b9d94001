//! The issuer (see docs/DESIGN.md, "Actors").
