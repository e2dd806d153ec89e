#ifndef USERDB_MIGRATE_H
#define USERDB_MIGRATE_H

void userdb_migrate_register(void);
void userdb_migrate_unregister(void);

#endif
