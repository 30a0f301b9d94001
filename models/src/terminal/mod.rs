//! The POS terminal (see docs/DESIGN.md, "Actors").
