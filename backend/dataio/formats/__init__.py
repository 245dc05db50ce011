"""Pure readers and writers of dataset formats: iterators in, iterators out, no Django.

Readers turn a text stream into records (``records.py``) one row or task at a time; writers
turn records back into text. Nothing here holds a whole file in memory, except the Raven and
Audacity readers, whose tables describe one recording each and are grouped by file.
"""
