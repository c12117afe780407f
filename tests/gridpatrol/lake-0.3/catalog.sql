--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: ducklake_column; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_column (
    column_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint,
    table_id bigint,
    column_order bigint,
    column_name character varying,
    column_type character varying,
    initial_default character varying,
    default_value character varying,
    nulls_allowed boolean,
    parent_column bigint
);


--
-- Name: ducklake_column_mapping; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_column_mapping (
    mapping_id bigint,
    table_id bigint,
    type character varying
);


--
-- Name: ducklake_column_tag; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_column_tag (
    table_id bigint,
    column_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint,
    key character varying,
    value character varying
);


--
-- Name: ducklake_data_file; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_data_file (
    data_file_id bigint NOT NULL,
    table_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint,
    file_order bigint,
    path character varying,
    path_is_relative boolean,
    file_format character varying,
    record_count bigint,
    file_size_bytes bigint,
    footer_size bigint,
    row_id_start bigint,
    partition_id bigint,
    encryption_key character varying,
    partial_file_info character varying,
    mapping_id bigint
);


--
-- Name: ducklake_delete_file; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_delete_file (
    delete_file_id bigint NOT NULL,
    table_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint,
    data_file_id bigint,
    path character varying,
    path_is_relative boolean,
    format character varying,
    delete_count bigint,
    file_size_bytes bigint,
    footer_size bigint,
    encryption_key character varying
);


--
-- Name: ducklake_file_column_stats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_file_column_stats (
    data_file_id bigint,
    table_id bigint,
    column_id bigint,
    column_size_bytes bigint,
    value_count bigint,
    null_count bigint,
    min_value character varying,
    max_value character varying,
    contains_nan boolean,
    extra_stats character varying
);


--
-- Name: ducklake_file_partition_value; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_file_partition_value (
    data_file_id bigint,
    table_id bigint,
    partition_key_index bigint,
    partition_value character varying
);


--
-- Name: ducklake_files_scheduled_for_deletion; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_files_scheduled_for_deletion (
    data_file_id bigint,
    path character varying,
    path_is_relative boolean,
    schedule_start timestamp with time zone
);


--
-- Name: ducklake_inlined_data_tables; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_inlined_data_tables (
    table_id bigint,
    table_name character varying,
    schema_version bigint
);


--
-- Name: ducklake_metadata; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_metadata (
    key character varying NOT NULL,
    value character varying NOT NULL,
    scope character varying,
    scope_id bigint
);


--
-- Name: ducklake_name_mapping; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_name_mapping (
    mapping_id bigint,
    column_id bigint,
    source_name character varying,
    target_field_id bigint,
    parent_column bigint,
    is_partition boolean
);


--
-- Name: ducklake_partition_column; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_partition_column (
    partition_id bigint,
    table_id bigint,
    partition_key_index bigint,
    column_id bigint,
    transform character varying
);


--
-- Name: ducklake_partition_info; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_partition_info (
    partition_id bigint,
    table_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint
);


--
-- Name: ducklake_schema; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_schema (
    schema_id bigint NOT NULL,
    schema_uuid uuid,
    begin_snapshot bigint,
    end_snapshot bigint,
    schema_name character varying,
    path character varying,
    path_is_relative boolean
);


--
-- Name: ducklake_schema_versions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_schema_versions (
    begin_snapshot bigint,
    schema_version bigint
);


--
-- Name: ducklake_snapshot; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_snapshot (
    snapshot_id bigint NOT NULL,
    snapshot_time timestamp with time zone,
    schema_version bigint,
    next_catalog_id bigint,
    next_file_id bigint
);


--
-- Name: ducklake_snapshot_changes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_snapshot_changes (
    snapshot_id bigint NOT NULL,
    changes_made character varying,
    author character varying,
    commit_message character varying,
    commit_extra_info character varying
);


--
-- Name: ducklake_table; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_table (
    table_id bigint,
    table_uuid uuid,
    begin_snapshot bigint,
    end_snapshot bigint,
    schema_id bigint,
    table_name character varying,
    path character varying,
    path_is_relative boolean
);


--
-- Name: ducklake_table_column_stats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_table_column_stats (
    table_id bigint,
    column_id bigint,
    contains_null boolean,
    contains_nan boolean,
    min_value character varying,
    max_value character varying,
    extra_stats character varying
);


--
-- Name: ducklake_table_stats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_table_stats (
    table_id bigint,
    record_count bigint,
    next_row_id bigint,
    file_size_bytes bigint
);


--
-- Name: ducklake_tag; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_tag (
    object_id bigint,
    begin_snapshot bigint,
    end_snapshot bigint,
    key character varying,
    value character varying
);


--
-- Name: ducklake_view; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ducklake_view (
    view_id bigint,
    view_uuid uuid,
    begin_snapshot bigint,
    end_snapshot bigint,
    schema_id bigint,
    view_name character varying,
    dialect character varying,
    sql character varying,
    column_aliases character varying
);


--
-- Data for Name: ducklake_column; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_column (column_id, begin_snapshot, end_snapshot, table_id, column_order, column_name, column_type, initial_default, default_value, nulls_allowed, parent_column) FROM stdin;
1	1	\N	1	1	version	int32	\N	\N	f	\N
1	2	\N	2	1	device_id	varchar	\N	\N	f	\N
2	2	\N	2	2	ts	timestamptz	\N	\N	f	\N
3	2	\N	2	3	lat	float64	\N	\N	f	\N
4	2	\N	2	4	lon	float64	\N	\N	f	\N
5	2	\N	2	5	acc	float32	\N	\N	t	\N
6	2	\N	2	6	spd	float32	\N	\N	t	\N
7	2	\N	2	7	hdg	float32	\N	\N	t	\N
8	2	\N	2	8	alt	float32	\N	\N	t	\N
9	2	\N	2	9	bat	float32	\N	\N	t	\N
10	2	\N	2	10	flags	uint8	\N	\N	f	\N
11	2	\N	2	11	grid_id	varchar	\N	\N	t	\N
12	2	\N	2	12	sent_at	timestamptz	\N	\N	t	\N
13	2	\N	2	13	received_at	timestamptz	\N	\N	f	\N
1	3	\N	3	1	topic	varchar	\N	\N	f	\N
2	3	\N	3	2	payload	blob	\N	\N	f	\N
3	3	\N	3	3	item	int32	\N	\N	f	\N
4	3	\N	3	4	reason	varchar	\N	\N	f	\N
5	3	\N	3	5	detail	varchar	\N	\N	f	\N
6	3	\N	3	6	received_at	timestamptz	\N	\N	f	\N
1	4	\N	4	1	name	varchar	\N	\N	f	\N
2	4	\N	4	2	value	int64	\N	\N	f	\N
1	5	\N	5	1	device_id	varchar	\N	\N	f	\N
2	5	\N	5	2	kind	varchar	\N	\N	f	\N
3	5	\N	5	3	worker	varchar	\N	\N	t	\N
4	5	\N	5	4	grid_id	varchar	\N	\N	t	\N
1	6	\N	6	1	device_id	varchar	\N	\N	f	\N
2	6	\N	6	2	event	varchar	\N	\N	f	\N
3	6	\N	6	3	received_at	timestamptz	\N	\N	f	\N
1	7	\N	7	1	grid_id	varchar	\N	\N	f	\N
2	7	\N	7	2	position	int32	\N	\N	f	\N
3	7	\N	7	3	name	varchar	\N	\N	t	\N
4	7	\N	7	4	parent	varchar	\N	\N	t	\N
5	7	\N	7	5	is_leaf	boolean	\N	\N	f	\N
6	7	\N	7	6	interval_s	int32	\N	\N	f	\N
7	7	\N	7	7	service_hours	varchar	\N	\N	t	\N
8	7	\N	7	8	geometry	varchar	\N	\N	f	\N
1	8	\N	8	1	alert_id	varchar	\N	\N	f	\N
2	8	\N	8	2	kind	varchar	\N	\N	f	\N
3	8	\N	8	3	grid_id	varchar	\N	\N	t	\N
4	8	\N	8	4	device_id	varchar	\N	\N	t	\N
5	8	\N	8	5	ts	timestamptz	\N	\N	f	\N
6	8	\N	8	6	raised_at	timestamptz	\N	\N	f	\N
7	8	\N	8	7	detail	varchar	\N	\N	f	\N
1	9	\N	9	1	quarter	int64	\N	\N	f	\N
2	9	\N	9	2	changes	int64	\N	\N	f	\N
1	10	\N	10	1	day	date	\N	\N	f	\N
2	10	\N	10	2	through	timestamptz	\N	\N	f	\N
3	10	\N	10	3	fingerprint	varchar	\N	\N	f	\N
4	10	\N	10	4	changes	int64	\N	\N	f	\N
5	10	\N	10	5	derived_at	timestamptz	\N	\N	f	\N
1	11	\N	11	1	day	date	\N	\N	f	\N
2	11	\N	11	2	grid_id	varchar	\N	\N	f	\N
3	11	\N	11	3	first_ts	float64	\N	\N	f	\N
4	11	\N	11	4	last_ts	float64	\N	\N	f	\N
5	11	\N	11	5	visits	int32	\N	\N	f	\N
6	11	\N	11	6	max_inner_s	float64	\N	\N	f	\N
7	11	\N	11	7	across	boolean	\N	\N	f	\N
1	12	\N	12	1	day	date	\N	\N	f	\N
2	12	\N	12	2	device_id	varchar	\N	\N	f	\N
3	12	\N	12	3	grid_id	varchar	\N	\N	t	\N
4	12	\N	12	4	fix_us	int64	\N	\N	f	\N
5	12	\N	12	5	across	boolean	\N	\N	f	\N
1	13	\N	13	1	day	date	\N	\N	f	\N
2	13	\N	13	2	device_id	varchar	\N	\N	f	\N
3	13	\N	13	3	cell	int32	\N	\N	f	\N
4	13	\N	13	4	across	boolean	\N	\N	f	\N
1	14	\N	14	1	fingerprint	varchar	\N	\N	f	\N
2	14	\N	14	2	grid_id	varchar	\N	\N	f	\N
3	14	\N	14	3	cell	int32	\N	\N	f	\N
1	19	\N	15	1	snapshot_id	int64	\N	\N	f	\N
2	19	\N	15	2	pings_rowid	int64	\N	\N	f	\N
3	19	\N	15	3	events_rowid	int64	\N	\N	f	\N
4	19	\N	15	4	completed_at	timestamptz	\N	\N	f	\N
\.


--
-- Data for Name: ducklake_column_mapping; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_column_mapping (mapping_id, table_id, type) FROM stdin;
\.


--
-- Data for Name: ducklake_column_tag; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_column_tag (table_id, column_id, begin_snapshot, end_snapshot, key, value) FROM stdin;
\.


--
-- Data for Name: ducklake_data_file; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_data_file (data_file_id, table_id, begin_snapshot, end_snapshot, file_order, path, path_is_relative, file_format, record_count, file_size_bytes, footer_size, row_id_start, partition_id, encryption_key, partial_file_info, mapping_id) FROM stdin;
0	1	15	\N	\N	ducklake-01a23cc8-79a8-7c1f-b9ab-16545f5dbe17.parquet	t	parquet	1	201	160	0	\N	\N	\N	\N
1	5	16	\N	\N	ducklake-01a23cc8-7a0b-7799-900f-3d9f637b39b6.parquet	t	parquet	3	574	380	0	\N	\N	\N	\N
2	2	17	\N	\N	ducklake-01a23cc8-7a20-71b6-a785-192db0e9c186.parquet	t	parquet	4	1457	940	0	\N	\N	\N	\N
3	4	17	\N	\N	ducklake-01a23cc8-7a27-7d59-baf8-3defcf9f0514.parquet	t	parquet	1	334	254	0	\N	\N	\N	\N
4	9	17	\N	\N	ducklake-01a23cc8-7a24-76c2-8594-ef293bdcb80f.parquet	t	parquet	1	349	271	0	\N	\N	\N	\N
5	8	18	\N	\N	ducklake-01a23cc8-7a32-72b1-b6c5-ddbf83c6bfde.parquet	t	parquet	2	944	655	0	\N	\N	\N	\N
6	15	20	\N	\N	ducklake-01a23cc8-7a6d-7af4-8943-f5bf69deb9c1.parquet	t	parquet	1	651	507	0	\N	\N	\N	\N
\.


--
-- Data for Name: ducklake_delete_file; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_delete_file (delete_file_id, table_id, begin_snapshot, end_snapshot, data_file_id, path, path_is_relative, format, delete_count, file_size_bytes, footer_size, encryption_key) FROM stdin;
\.


--
-- Data for Name: ducklake_file_column_stats; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_file_column_stats (data_file_id, table_id, column_id, column_size_bytes, value_count, null_count, min_value, max_value, contains_nan, extra_stats) FROM stdin;
0	1	1	29	1	0	2	2	\N	\N
1	5	1	40	3	0	a	c	\N	\N
1	5	2	56	3	0	phone	tracker	\N	\N
1	5	3	44	2	1	Li	Wang	\N	\N
1	5	4	42	2	1	G1	G2	\N	\N
2	2	1	45	4	0	a	z	\N	\N
2	2	2	56	4	0	2026-11-20 00:00:10+00	2026-11-20 00:00:30+00	\N	\N
2	2	3	56	4	0	39.0	39.3	f	\N
2	2	4	55	4	0	117.0	117.3	f	\N
2	2	5	25	0	4	\N	\N	f	\N
2	2	6	25	0	4	\N	\N	f	\N
2	2	7	25	0	4	\N	\N	f	\N
2	2	8	25	0	4	\N	\N	f	\N
2	2	9	25	0	4	\N	\N	f	\N
2	2	10	41	4	0	0	1	\N	\N
2	2	11	46	4	0	G1	G3	\N	\N
2	2	12	25	0	4	\N	\N	\N	\N
2	2	13	56	4	0	2026-11-20 00:00:10+00	2026-11-20 00:00:30+00	\N	\N
3	4	1	35	1	0	stored	stored	\N	\N
3	4	2	33	1	0	4	4	\N	\N
4	9	1	33	1	0	1994592	1994592	\N	\N
4	9	2	33	1	0	4	4	\N	\N
5	8	1	37	2	0	x1	x2	\N	\N
5	8	2	54	2	0	device_offline	overdue	\N	\N
5	8	3	36	1	1	G1	G1	\N	\N
5	8	4	35	1	1	b	b	\N	\N
5	8	5	41	2	0	2026-11-20 00:00:00+00	2026-11-20 00:00:00+00	\N	\N
5	8	6	41	2	0	2026-11-20 00:00:00+00	2026-11-20 00:00:05+00	\N	\N
5	8	7	33	2	0			\N	\N
6	15	1	33	1	0	19	19	\N	\N
6	15	2	33	1	0	3	3	\N	\N
6	15	3	33	1	0	-1	-1	\N	\N
6	15	4	33	1	0	2026-12-03 16:41:41.208873+00	2026-12-03 16:41:41.208873+00	\N	\N
\.


--
-- Data for Name: ducklake_file_partition_value; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_file_partition_value (data_file_id, table_id, partition_key_index, partition_value) FROM stdin;
\.


--
-- Data for Name: ducklake_files_scheduled_for_deletion; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_files_scheduled_for_deletion (data_file_id, path, path_is_relative, schedule_start) FROM stdin;
\.


--
-- Data for Name: ducklake_inlined_data_tables; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_inlined_data_tables (table_id, table_name, schema_version) FROM stdin;
\.


--
-- Data for Name: ducklake_metadata; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_metadata (key, value, scope, scope_id) FROM stdin;
version	0.3	\N	\N
created_by	DuckDB 6ddac802ff	\N	\N
data_path	@DATA_PATH@/	\N	\N
encrypted	false	\N	\N
\.


--
-- Data for Name: ducklake_name_mapping; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_name_mapping (mapping_id, column_id, source_name, target_field_id, parent_column, is_partition) FROM stdin;
\.


--
-- Data for Name: ducklake_partition_column; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_partition_column (partition_id, table_id, partition_key_index, column_id, transform) FROM stdin;
\.


--
-- Data for Name: ducklake_partition_info; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_partition_info (partition_id, table_id, begin_snapshot, end_snapshot) FROM stdin;
\.


--
-- Data for Name: ducklake_schema; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_schema (schema_id, schema_uuid, begin_snapshot, end_snapshot, schema_name, path, path_is_relative) FROM stdin;
0	8c994c63-1d84-4761-901c-36b38839a04e	0	\N	main	main/	t
\.


--
-- Data for Name: ducklake_schema_versions; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_schema_versions (begin_snapshot, schema_version) FROM stdin;
0	0
1	1
2	2
3	3
4	4
5	5
6	6
7	7
8	8
9	9
10	10
11	11
12	12
13	13
14	14
19	15
\.


--
-- Data for Name: ducklake_snapshot; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_snapshot (snapshot_id, snapshot_time, schema_version, next_catalog_id, next_file_id) FROM stdin;
0	2026-12-03 16:41:40.768784+00	0	1	0
1	2026-12-03 16:41:40.865022+00	1	2	0
2	2026-12-03 16:41:40.866772+00	2	3	0
3	2026-12-03 16:41:40.87784+00	3	4	0
4	2026-12-03 16:41:40.893274+00	4	5	0
5	2026-12-03 16:41:40.9037+00	5	6	0
6	2026-12-03 16:41:40.913895+00	6	7	0
7	2026-12-03 16:41:40.924106+00	7	8	0
8	2026-12-03 16:41:40.934163+00	8	9	0
9	2026-12-03 16:41:40.945565+00	9	10	0
10	2026-12-03 16:41:40.955519+00	10	11	0
11	2026-12-03 16:41:40.966295+00	11	12	0
12	2026-12-03 16:41:40.979208+00	12	13	0
13	2026-12-03 16:41:40.989448+00	13	14	0
14	2026-12-03 16:41:41.004324+00	14	15	0
15	2026-12-03 16:41:41.030712+00	14	15	1
16	2026-12-03 16:41:41.05897+00	14	15	2
17	2026-12-03 16:41:41.148925+00	14	15	5
18	2026-12-03 16:41:41.165228+00	14	15	6
19	2026-12-03 16:41:41.173962+00	15	16	6
20	2026-12-03 16:41:41.210495+00	15	16	7
\.


--
-- Data for Name: ducklake_snapshot_changes; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_snapshot_changes (snapshot_id, changes_made, author, commit_message, commit_extra_info) FROM stdin;
0	created_schema:"main"	\N	\N	\N
1	created_table:"main"."schema_version"	\N	\N	\N
2	created_table:"main"."pings"	\N	\N	\N
3	created_table:"main"."rejected"	\N	\N	\N
4	created_table:"main"."counters"	\N	\N	\N
5	created_table:"main"."devices"	\N	\N	\N
6	created_table:"main"."device_events"	\N	\N	\N
7	created_table:"main"."grids"	\N	\N	\N
8	created_table:"main"."alerts"	\N	\N	\N
9	created_table:"main"."ping_changes"	\N	\N	\N
10	created_table:"main"."derived_days"	\N	\N	\N
11	created_table:"main"."derived_visits"	\N	\N	\N
12	created_table:"main"."derived_time"	\N	\N	\N
13	created_table:"main"."derived_cells"	\N	\N	\N
14	created_table:"main"."derived_grid_cells"	\N	\N	\N
15	inserted_into_table:1	\N	\N	\N
16	inserted_into_table:5	\N	\N	\N
17	inserted_into_table:2,inserted_into_table:4,inserted_into_table:9	\N	\N	\N
18	inserted_into_table:8	\N	\N	\N
19	created_table:"main"."stage_progress"	\N	\N	\N
20	inserted_into_table:15	\N	\N	\N
\.


--
-- Data for Name: ducklake_table; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_table (table_id, table_uuid, begin_snapshot, end_snapshot, schema_id, table_name, path, path_is_relative) FROM stdin;
1	01a23cc8-7901-7e35-842c-7efb2a4a089e	1	\N	0	schema_version	schema_version/	t
2	01a23cc8-790c-7c43-823d-1ef18739d045	2	\N	0	pings	pings/	t
3	01a23cc8-791c-76c4-985e-818cb89802bd	3	\N	0	rejected	rejected/	t
4	01a23cc8-7926-7d86-9818-1348a5401869	4	\N	0	counters	counters/	t
5	01a23cc8-7931-7e4a-a38b-68a5ab5e2d89	5	\N	0	devices	devices/	t
6	01a23cc8-793b-7beb-b1a1-97612c1c5735	6	\N	0	device_events	device_events/	t
7	01a23cc8-7945-7e0b-9b43-b312bf68bff3	7	\N	0	grids	grids/	t
8	01a23cc8-7950-73e7-8981-7cb0ba89d2fb	8	\N	0	alerts	alerts/	t
9	01a23cc8-795a-759f-9059-daece697c477	9	\N	0	ping_changes	ping_changes/	t
10	01a23cc8-7965-7352-9d2f-5c09b850a5d7	10	\N	0	derived_days	derived_days/	t
11	01a23cc8-7972-7542-91ff-1100dada5752	11	\N	0	derived_visits	derived_visits/	t
12	01a23cc8-797c-757e-844d-9ef00d1baf0a	12	\N	0	derived_time	derived_time/	t
13	01a23cc8-798b-7286-b7e8-55a1d3b9f8c2	13	\N	0	derived_cells	derived_cells/	t
14	01a23cc8-7997-7072-a203-c5204350d449	14	\N	0	derived_grid_cells	derived_grid_cells/	t
15	01a23cc8-7a36-7206-a96b-1e59d4f537fd	19	\N	0	stage_progress	stage_progress/	t
\.


--
-- Data for Name: ducklake_table_column_stats; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_table_column_stats (table_id, column_id, contains_null, contains_nan, min_value, max_value, extra_stats) FROM stdin;
1	1	f	\N	2	2	\N
5	1	f	\N	a	c	\N
5	2	f	\N	phone	tracker	\N
5	3	t	\N	Li	Wang	\N
5	4	t	\N	G1	G2	\N
2	1	f	\N	a	z	\N
2	2	f	\N	2026-11-20 00:00:10+00	2026-11-20 00:00:30+00	\N
2	3	f	f	39.0	39.3	\N
2	4	f	f	117.0	117.3	\N
2	5	t	f	\N	\N	\N
2	6	t	f	\N	\N	\N
2	7	t	f	\N	\N	\N
2	8	t	f	\N	\N	\N
2	9	t	f	\N	\N	\N
2	10	f	\N	0	1	\N
2	11	f	\N	G1	G3	\N
2	12	t	\N	\N	\N	\N
2	13	f	\N	2026-11-20 00:00:10+00	2026-11-20 00:00:30+00	\N
4	1	f	\N	stored	stored	\N
4	2	f	\N	4	4	\N
9	1	f	\N	1994592	1994592	\N
9	2	f	\N	4	4	\N
8	1	f	\N	x1	x2	\N
8	2	f	\N	device_offline	overdue	\N
8	3	t	\N	G1	G1	\N
8	4	t	\N	b	b	\N
8	5	f	\N	2026-11-20 00:00:00+00	2026-11-20 00:00:00+00	\N
8	6	f	\N	2026-11-20 00:00:00+00	2026-11-20 00:00:05+00	\N
8	7	f	\N			\N
15	1	f	\N	19	19	\N
15	2	f	\N	3	3	\N
15	3	f	\N	-1	-1	\N
15	4	f	\N	2026-12-03 16:41:41.208873+00	2026-12-03 16:41:41.208873+00	\N
\.


--
-- Data for Name: ducklake_table_stats; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_table_stats (table_id, record_count, next_row_id, file_size_bytes) FROM stdin;
1	1	1	201
5	3	3	574
2	4	4	1457
4	1	1	334
9	1	1	349
8	2	2	944
15	1	1	651
\.


--
-- Data for Name: ducklake_tag; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_tag (object_id, begin_snapshot, end_snapshot, key, value) FROM stdin;
\.


--
-- Data for Name: ducklake_view; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.ducklake_view (view_id, view_uuid, begin_snapshot, end_snapshot, schema_id, view_name, dialect, sql, column_aliases) FROM stdin;
\.


--
-- Name: ducklake_data_file ducklake_data_file_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ducklake_data_file
    ADD CONSTRAINT ducklake_data_file_pkey PRIMARY KEY (data_file_id);


--
-- Name: ducklake_delete_file ducklake_delete_file_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ducklake_delete_file
    ADD CONSTRAINT ducklake_delete_file_pkey PRIMARY KEY (delete_file_id);


--
-- Name: ducklake_schema ducklake_schema_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ducklake_schema
    ADD CONSTRAINT ducklake_schema_pkey PRIMARY KEY (schema_id);


--
-- Name: ducklake_snapshot_changes ducklake_snapshot_changes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ducklake_snapshot_changes
    ADD CONSTRAINT ducklake_snapshot_changes_pkey PRIMARY KEY (snapshot_id);


--
-- Name: ducklake_snapshot ducklake_snapshot_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ducklake_snapshot
    ADD CONSTRAINT ducklake_snapshot_pkey PRIMARY KEY (snapshot_id);


--
-- PostgreSQL database dump complete
--


