//! The card network, CUP (see docs/DESIGN.md, "Actors").
