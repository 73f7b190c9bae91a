SELECT count(*) FROM legal_holds
