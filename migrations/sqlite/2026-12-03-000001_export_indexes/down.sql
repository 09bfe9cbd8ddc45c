DROP INDEX survey_responses_county_village;
DROP INDEX visits_county_village;
