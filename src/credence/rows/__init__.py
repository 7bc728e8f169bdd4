"""Record rows (core, no I/O): the columns of a record file, a row's check, the text screen."""
