-- Step therapy: the entry requires a prior fill of this molecule (else reject 608).
ALTER TABLE formulary ADD COLUMN step_therapy_molecule text;
