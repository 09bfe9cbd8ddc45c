-- The characters the new mask hides are not stored anywhere: nothing to restore.
SELECT 1;
