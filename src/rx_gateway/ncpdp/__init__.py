"""NCPDP Telecommunication Standard vD.0 on the wire: the codec and its field dictionary."""
