/** placeholder until this member lands. @module */
export {};
