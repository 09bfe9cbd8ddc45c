DROP INDEX residents_county_village;
DROP INDEX resident_moves_county;
DROP INDEX contracts_county_ending;
DROP INDEX contracts_county_signed;
DROP INDEX contracts_renews;
DROP INDEX visits_county_occurred;
