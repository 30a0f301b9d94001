//! Renders possim run records for people and CI systems: HTML with sequence
//! charts, Markdown summaries, JUnit XML and JSON Lines. Nothing is rendered
//! yet; the simulator that produces run records comes first.
