//! The acquirer switch (see docs/DESIGN.md, "Actors").
