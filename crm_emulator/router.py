"""Keep the emulator's tables in their own database (the `emulator` alias)."""

EMULATOR_APP = "crm_emulator"
EMULATOR_DB = "emulator"


class EmulatorRouter:
    def db_for_read(self, model, **hints):
        return EMULATOR_DB if model._meta.app_label == EMULATOR_APP else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        if EMULATOR_APP in {obj1._meta.app_label, obj2._meta.app_label}:
            return obj1._meta.app_label == obj2._meta.app_label
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return (app_label == EMULATOR_APP) == (db == EMULATOR_DB)
