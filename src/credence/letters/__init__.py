"""Printable documents for people: a notice as a letter, and the PDF writer they share."""
