"""Due process: notices, listings, measures, objections and the correction cascade, persisted."""
