"""Reporting: pictures and pages made from the IR and from run directories. It reads what
compiling and training wrote; it never reaches into training."""
