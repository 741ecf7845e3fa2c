"""The thread as RDF: the vocabulary, the export, and the RDF importers (Thread's own
export read back, Brick and RealEstateCore building models)."""
