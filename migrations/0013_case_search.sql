-- The console's case search (issue 20): `GET /api/cases?q=` matches case number,
-- description, address and reporter name with ILIKE '%…%' on one expression
-- (citygrid_store::case_search::SEARCH_DOC_SQL, which must stay identical to the
-- indexed expression below), served by a trigram index; the reporting user's name
-- through the users table and an index on the reporter.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX IF NOT EXISTS cases_search_trgm_idx ON cases USING gin (
    (case_no || E'\n' || coalesce(description, '') || E'\n' || coalesce(address, '')
        || E'\n' || coalesce(reporter_name, '')) gin_trgm_ops);
CREATE INDEX IF NOT EXISTS cases_reporter_idx ON cases (reporter_user_id);
CREATE INDEX IF NOT EXISTS users_username_trgm_idx ON users USING gin (username gin_trgm_ops);
-- filters and sorts of the console
CREATE INDEX IF NOT EXISTS cases_due_idx ON cases (due_at);
CREATE INDEX IF NOT EXISTS cases_category_idx ON cases (category);
CREATE INDEX IF NOT EXISTS cases_community_idx ON cases (community_code);
CREATE INDEX IF NOT EXISTS cases_street_idx ON cases (street_code);
