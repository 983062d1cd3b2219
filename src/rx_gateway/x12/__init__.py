"""ASC X12 005010 writers: the 835 remittance advice. Pure, standard library and domain only."""
