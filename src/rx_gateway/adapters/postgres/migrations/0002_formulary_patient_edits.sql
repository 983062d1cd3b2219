-- Age (60) and gender (61) edits on a formulary entry. Optional: NULL means no edit.
ALTER TABLE formulary
    ADD COLUMN age_min int CHECK (age_min >= 0),
    ADD COLUMN age_max int CHECK (age_max >= 0),
    ADD COLUMN gender_code int CHECK (gender_code IN (1, 2));
